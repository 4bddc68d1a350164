"""The web console (rocketmq-dashboard's pages) and the cluster-wide Prometheus metrics
(rocketmq-exporter's names), served by one process: `orbitmq dashboard`."""
