"""RobustEdge compressors."""
