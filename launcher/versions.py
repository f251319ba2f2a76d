"""Pinned versions of the local services; docker/compose.yml must use the same ones."""

from __future__ import annotations

# Apache Kafka: 3.9 still accepts every old client protocol version (4.0 dropped some,
# KIP-896), which keeps aiokafka/Faust and librdkafka equally happy.
KAFKA_VERSION = "3.9.1"
SCALA_BINARY_VERSION = "2.13"
# Kafka's build declares the log4j backend compileOnly, so its pom does not bring one.
SLF4J_VERSION = "1.7.36"
RELOAD4J_VERSION = "1.2.25"

# Apache Cassandra: newest 5.0 patch on Maven Central; 5.0 runs on Java 11 and 17 only.
CASSANDRA_VERSION = "5.0.9"

# Redis comes from Debian 12's package (7.0.15); the compose file uses the same release.
REDIS_MAJOR = "7"
REDIS_DOCKER_TAG = "7.0.15"
REDIS_DEBIAN_PACKAGE = "redis-server"

# Java that runs both JVMs: Cassandra 5.0 fails on JDK 24+ (no SecurityManager).
JAVA_MAJOR = 17
JAVA_DEBIAN_PACKAGE = "openjdk-17-jre-headless"

# Requires Maven >= 3.6.3 (Debian 12 ships 3.8.7).
MAVEN_DEPENDENCY_PLUGIN_VERSION = "3.8.1"
