"""The local Kafka, Cassandra and Redis launcher behind `photostream services`, without Docker.

Not business services: it installs, starts, stops and health-checks the three backing
processes that development and tests run against.

    manager      up, down and status of the three together
    kafka, cassandra, redis    one service each: config, command line, probe
    service      the Service base class and ServiceStatus
    jvm          Java 17 and Maven, the jars, and the JvmService base class
    errors       the errors and the exit codes they map to
    processes    pid files, liveness, spawning and stopping
    ports        port checks and who holds a port (/proc/net/tcp)
    readiness    waiting until a started service answers
    logs         the end of a service's log
    rendering    config files from templates/
    versions     pinned versions, shared with docker/compose.yml
"""
