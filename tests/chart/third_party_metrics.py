"""Metric names the dashboards and alerts take from programs that are not ours, recorded from
their source code at the versions the chart and skaffold.yaml pin (test_observability checks the
pins, so a version bump sends you back here):

- postgres_exporter: collector/pg_stat_database.go (pg_stat_database_*; counters keep the
  column name, no _total), collector/pg_setting.go (pg_settings_<name> of each numeric setting)
  and the exporter's own pg_up;
- redis_exporter: exporter/exporter.go (metricMapGauges, metricMapCounters, db_keys) under the
  "redis" namespace, and exporter/redis.go (config_<name> of CONFIG GET maxclients, maxmemory);
- kube-state-metrics (bundled with kube-prometheus-stack): the CronJob family;
- Prometheus itself: `up`, 0 when a target's scrape fails.
"""

from __future__ import annotations

POSTGRES_EXPORTER_IMAGE = "quay.io/prometheuscommunity/postgres-exporter:v0.18.1"
POSTGRES_EXPORTER = frozenset(
    {
        "pg_up",
        "pg_stat_database_numbackends",
        "pg_stat_database_xact_commit",
        "pg_stat_database_xact_rollback",
        "pg_stat_database_blks_read",
        "pg_stat_database_blks_hit",
        "pg_stat_database_tup_returned",
        "pg_stat_database_tup_fetched",
        "pg_stat_database_tup_inserted",
        "pg_stat_database_tup_updated",
        "pg_stat_database_tup_deleted",
        "pg_stat_database_deadlocks",
        "pg_settings_max_connections",
    }
)

REDIS_EXPORTER_IMAGE = "oliver006/redis_exporter:v1.69.0"
REDIS_EXPORTER = frozenset(
    {
        "redis_up",
        "redis_connected_clients",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_keyspace_hits_total",
        "redis_keyspace_misses_total",
        "redis_evicted_keys_total",
        "redis_commands_processed_total",
        "redis_db_keys",
        "redis_config_maxclients",
    }
)

KUBE_PROMETHEUS_STACK_VERSION = "86.2.3"
KUBE_STATE_METRICS = frozenset(
    {
        "kube_cronjob_status_last_successful_time",
        "kube_cronjob_created",
        "kube_job_status_failed",
    }
)

PROMETHEUS = frozenset({"up"})

ALL = POSTGRES_EXPORTER | REDIS_EXPORTER | KUBE_STATE_METRICS | PROMETHEUS
