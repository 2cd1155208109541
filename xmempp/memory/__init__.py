"""Key-value memory stores, similarity, and the XMem++ memory manager."""
