"""RobustEdge client SDK."""
