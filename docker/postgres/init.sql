-- The team's PostgreSQL: Airflow's metadata database and the lineage store, with a role
-- per account. A psql script; docker/postgres/init.sh passes the variables:
--   airflow_db, airflow_user, airflow_password      Airflow's metadata database and login
--   lineage_db, lineage_owner, lineage_owner_password   the lineage store and the role that
--                                                    owns its tables (runs its migrations)
--   accounts   "<12-digit account>=<password>,...": one login role per account
--
-- An account's role is named lineage_acct_<account>: the store's row-level security acts
-- as the account whose role runs the statement, so a connection logging in as it sees and
-- writes that account's lineage (and what other accounts shared with it), nothing else.
-- Table privileges come after the tables exist: airflow-init migrates the store as its
-- owner, then grants each account role what row-level security needs.

\set ON_ERROR_STOP on

CREATE ROLE :"airflow_user" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE :"airflow_db" OWNER :"airflow_user";

CREATE ROLE :"lineage_owner" LOGIN PASSWORD :'lineage_owner_password';
CREATE DATABASE :"lineage_db" OWNER :"lineage_owner";
REVOKE ALL ON DATABASE :"lineage_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"lineage_db" TO :"lineage_owner";

-- The DO block reads its arguments from settings: psql does not substitute inside it.
SELECT set_config('lineage_init.accounts', :'accounts', false),
       set_config('lineage_init.db', :'lineage_db', false);

DO $$
DECLARE
    entry text;
    account text;
    secret text;
BEGIN
    FOREACH entry IN ARRAY string_to_array(current_setting('lineage_init.accounts'), ',') LOOP
        account := split_part(trim(entry), '=', 1);
        secret := substr(trim(entry), length(account) + 2);
        IF account !~ '^[0-9]{12}$' THEN
            RAISE EXCEPTION 'accounts: % is not a 12-digit account id', account;
        END IF;
        IF secret = '' THEN
            RAISE EXCEPTION 'accounts: account % has no password (write <account>=<password>)', account;
        END IF;
        EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT PASSWORD %L', 'lineage_acct_' || account, secret);
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I',
                       current_setting('lineage_init.db'), 'lineage_acct_' || account);
    END LOOP;
END
$$;
