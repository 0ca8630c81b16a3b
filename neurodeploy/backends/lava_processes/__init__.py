# neurodeploy's own Lava processes. Lava imports every module in this folder, by file path
# and without its package, when it looks for process models: keep this file free of
# imports and the folder free of anything but self-contained process modules.
