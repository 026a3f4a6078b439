"""The pooled email consumer: settings, templates, MIME assembly, SMTP sending, retry.

The Kafka side (service, offsets, dead letters, metrics) builds on these modules.
"""
