"""Local Apache Kafka, Apache Cassandra and Redis for development and tests, without Docker."""
