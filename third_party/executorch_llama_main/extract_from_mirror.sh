#!/bin/bash
# extract.sh GITDIR REV DEST path...  -- extracts files, skipping blobs absent from the mirror
G=$1; REV=$2; DEST=$3; shift 3
git --git-dir=$G ls-tree -r $REV -- "$@" | while read mode type sha path; do
  [ "$type" = blob ] || continue
  mkdir -p "$DEST/$(dirname "$path")"
  git --git-dir=$G cat-file blob $sha > "$DEST/$path" 2>/dev/null || { echo "MISSING $path"; rm -f "$DEST/$path"; }
done
