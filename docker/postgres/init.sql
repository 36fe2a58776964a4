-- The team's PostgreSQL: Airflow's metadata database and the lineage store. A psql
-- script; docker/postgres/init.sh passes the variables:
--   airflow_db, airflow_user, airflow_password          Airflow's metadata database and login
--   lineage_db, lineage_owner, lineage_owner_password   the lineage store and the role that
--                                                       owns its tables
--
-- lineage_owner is what the `lineage_admin` connection logs in as (only airflow-init has
-- it): `airflow db migrate` creates and upgrades the store's tables as it, then
-- docker/init_store.py provisions one login role per account, lineage_acct_<account>,
-- with its password and the grants row-level security needs. Hence CREATEROLE (it makes
-- the account roles) and BYPASSRLS (row-level security is forced on every lineage table,
-- the owner's sessions included; provisioning opens the store unrestricted). Account
-- roles come after the tables exist, so they are not made here.

\set ON_ERROR_STOP on

CREATE ROLE :"airflow_user" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE :"airflow_db" OWNER :"airflow_user";

CREATE ROLE :"lineage_owner" LOGIN CREATEROLE BYPASSRLS PASSWORD :'lineage_owner_password';
CREATE DATABASE :"lineage_db" OWNER :"lineage_owner";
-- Only the owner and the account roles (each granted CONNECT when provisioned) get in.
REVOKE ALL ON DATABASE :"lineage_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"lineage_db" TO :"lineage_owner";
