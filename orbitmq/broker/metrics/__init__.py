"""Broker metrics under RocketMQ 5's names: counters the hot paths add to (counters.py),
turned into Prometheus series at scrape time (collector.py) and served on HTTP
(exporter.py, imported only when metricsExporterType=PROM)."""
