"""``python -m robustedge.compressors``: prints the compressors' settings reference."""

import sys

from .reference import markdown_reference

sys.stdout.write(markdown_reference())
