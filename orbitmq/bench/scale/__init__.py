"""`orbitmq bench namesrv-scale` and `orbitmq bench broker-scale`: how NameServer and
broker costs grow with the number of broker sets and topics (docs/scale.md)."""
