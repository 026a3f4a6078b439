"""poolbench: size, trust and guard a pooled Kafka-to-SMTP email consumer."""

__version__ = "0.1.0"
