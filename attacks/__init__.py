"""RobustEdge attacks."""
