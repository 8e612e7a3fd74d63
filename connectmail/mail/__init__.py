"""Composing and parsing RFC 5322 messages with the standard `email` package."""
