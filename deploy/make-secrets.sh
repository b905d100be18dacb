#!/bin/sh
# The secret files docker-compose.yml mounts (compose `secrets:`), made once:
#   deploy/make-secrets.sh [DIRECTORY]        (default: ./secrets)
# A file that exists is kept, so running it again only adds what is missing;
# to rotate one, see docs/deploy.md ("Secrets and their rotation").
#
# Passwords are random letters and digits (no URL escaping needed); the URLs
# carry the passwords made here, so a password and its URLs change together.
# The provider credentials (SMS, LINE, SMTP) are made empty: a channel whose
# credentials are empty is off. Write yours into them.
#
# The directory is 0700 and the files 0644: compose mounts each file into
# its container as it is, where the services run as uid 10001, not as you;
# the directory keeps them from the host's other users.
set -eu

dir=${1:-secrets}
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

random() {
    # 43 letters and digits: more than 256 bits
    LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 43
}

# write NAME CONTENT: makes the file NAME, unless it exists
write() {
    if [ ! -e "$dir/$1" ]; then
        printf '%s\n' "$2" >"$dir/$1"
        chmod 644 "$dir/$1"
        echo "made $dir/$1" >&2
    fi
}

value() {
    sed -n '1p' "$dir/$1"
}

write token_secret "$(random)"
write tracking_code_pepper "$(random)"
write metrics_token "$(random)"

write postgres_password "$(random)"
pg=$(value postgres_password)
for service in intake routing registry notify; do
    write "${service}_db_url" "postgresql://postgres:$pg@postgres:5432/$service"
done

write rabbitmq_password "$(random)"
mq=$(value rabbitmq_password)
write amqp_uri "amqp://labornet:$mq@rabbitmq:5672/"
write rabbit_management_url "http://labornet:$mq@rabbitmq:15672"

write redis_password "$(random)"
redis=$(value redis_password)
write redis_conf "requirepass $redis"
write rate_limit_storage "redis://:$redis@redis:6379/0"

for provider in sms_api_key sms_api_secret line_access_token smtp_password; do
    if [ ! -e "$dir/$provider" ]; then
        : >"$dir/$provider"
        chmod 644 "$dir/$provider"
        echo "made $dir/$provider (empty: that channel is off)" >&2
    fi
done
