-- Runs once, when the postgres container starts on an empty data volume
-- (docker-entrypoint-initdb.d). Each labornet service owns its own database;
-- a new service needs only its compose entry, its database is already here.
-- To add one to an existing volume: docker compose exec postgres createdb -U postgres NAME
CREATE DATABASE intake;
CREATE DATABASE routing;
CREATE DATABASE registry;
CREATE DATABASE notify;
