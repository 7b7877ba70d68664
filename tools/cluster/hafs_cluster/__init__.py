"""hafs-cluster: a complete hafs cluster on one machine, one network namespace per node."""
