"""`flowgate gather`: what support needs from a cluster, collected by `oc adm must-gather`."""
