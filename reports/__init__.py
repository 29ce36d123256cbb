"""RobustEdge reports."""
