"""The shipped nequip-train configs (a Hydra config package: ``-cp pkg://nequip_mts.configs``)."""
