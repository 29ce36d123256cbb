"""The test replica must match onnxruntime, or every white-box test below is meaningless."""


def test_replica_matches_onnxruntime(replica_agrees):
    assert replica_agrees < 1e-4
