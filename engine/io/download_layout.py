"""Where a `pixsift download` folder keeps what img2dataset wrote: the names score and download share.

img2dataset takes every .json file of its output folder for a shard's stats, so its output goes into a
folder of its own inside the download folder, beside pixsift's ownership marker and settings file.
"""

DOWNLOAD_KIND = "download folder"  # the kind its ownership marker names (engine.io.ownership)
DOWNLOAD_SHARDS = "shards"  # img2dataset's output folder inside it
STATS_SUFFIX = "_stats.json"  # img2dataset writes <shard>_stats.json beside each shard
SUCCESS = "success"  # img2dataset's status of a URL it downloaded (its stats count other messages)
