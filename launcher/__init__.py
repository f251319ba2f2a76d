"""The local Kafka, Cassandra and Redis launcher behind `photostream services`, without Docker.

Not business services: it installs, starts, stops and health-checks the three backing
processes that development and tests run against.
"""
