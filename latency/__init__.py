"""RobustEdge latency."""
