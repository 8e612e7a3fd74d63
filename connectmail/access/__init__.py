"""Who may do what: IAM-style key policies, the resources a request touches, throttling."""
