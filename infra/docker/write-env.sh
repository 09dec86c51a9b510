#!/bin/sh
# Writes .env for docker compose from .env.example: every empty value gets a fresh random
# secret (AIRFLOW_FERNET_KEY a valid Fernet key). An existing .env is never touched.
#   sh infra/docker/write-env.sh [EXAMPLE] [TARGET]
set -eu

example="${1:-.env.example}"
target="${2:-.env}"
if [ -e "$target" ]; then
    echo "$target exists: left as it is"
    exit 0
fi

# URL-safe base64 of N random bytes, without padding
random_token() {
    head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'
}

# A Fernet key is the URL-safe base64 of 32 random bytes, padding included
fernet_key() {
    head -c 32 /dev/urandom | base64 | tr -d '\n' | tr '+/' '-_'
}

umask 077
tmp="$target.tmp.$$"
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        AIRFLOW_FERNET_KEY=) printf '%s%s\n' "$line" "$(fernet_key)" ;;
        [A-Z]*=) printf '%s%s\n' "$line" "$(random_token 24)" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$example" > "$tmp"
mv "$tmp" "$target"
echo "$target written from $example with new secrets"
