"""lmms-eval task YAMLs of vau-plugin (installed as the package `vau_plugin.tasks`)."""
