"""Classic master/slave replication (HAService in RocketMQ 4.x).

    wire.py     the two byte formats on haListenPort (pure)
    master.py   HAService: accepts slaves, pushes commit-log bytes, tracks their acks,
                lets SYNC_MASTER sends wait for one slave
    slave.py    HAClient: connects to the master, appends what it receives at the
                same offsets, reports its max offset

A slave's commit log is a byte-for-byte copy of the master's, at the same physical
offsets; its own reput service builds consume queues and the index from those bytes.
"""
