"""RobustEdge bridge."""
