"""RobustEdge service."""
