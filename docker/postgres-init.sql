-- Runs once, on the first start of an empty postgres volume (docker-entrypoint-initdb.d).
-- One database per participant service: each owns its data.
CREATE DATABASE inventory;
CREATE DATABASE payments;
CREATE DATABASE shipping;
