#!/bin/sh
# SeaweedFS in compose: master, volume server, filer and S3 gateway in one process
# (`weed server -s3`), data under /data. The S3 identity (the access key from the
# environment, the secret from the file S3_SECRET_ACCESS_KEY_FILE, a compose secret) is written
# to a file only this container reads; clients use path-style URLs.
set -eu

: "${S3_ACCESS_KEY_ID:?S3_ACCESS_KEY_ID is not set (see .env.example)}"
if [ -n "${S3_SECRET_ACCESS_KEY_FILE:-}" ]; then
    S3_SECRET_ACCESS_KEY="$(cat "$S3_SECRET_ACCESS_KEY_FILE")"
fi
: "${S3_SECRET_ACCESS_KEY:?S3_SECRET_ACCESS_KEY is not set (see .env.example)}"
case "$S3_ACCESS_KEY_ID$S3_SECRET_ACCESS_KEY" in
    *[\"\\]*)
        echo "seaweedfs: S3 credentials must not contain quotes or backslashes" >&2
        exit 1
        ;;
esac

config="${SEAWEEDFS_S3_CONFIG:-/tmp/batchpipe-s3.json}"
umask 077
printf '{"identities": [{"name": "batchpipe", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}\n' \
    "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" > "$config"

exec weed server \
    -dir=/data \
    -ip=seaweedfs \
    -ip.bind=0.0.0.0 \
    -master.volumeSizeLimitMB=1024 \
    -master.telemetry=false \
    -volume.max=0 \
    -s3 \
    -s3.port=8333 \
    -s3.config="$config"
