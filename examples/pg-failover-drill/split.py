import sys; print("  (split: todo)")
