"""The XMem network: its blocks, checkpoint loading, weights download and verification, devices."""
