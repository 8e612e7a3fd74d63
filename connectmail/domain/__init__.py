"""The rules of the service: instances, email addresses, contacts, outbound email, idempotency.

Functions here run inside a store transaction (they take a SQLAlchemy connection) and raise
`ServiceError` with AWS's error codes; they know nothing of HTTP.
"""
