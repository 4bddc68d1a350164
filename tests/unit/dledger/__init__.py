"""Tests of orbitmq.dledger."""
