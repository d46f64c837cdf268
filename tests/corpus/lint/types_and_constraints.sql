-- Hand-written column type changes and constraints.

ALTER TABLE accounts ALTER COLUMN email TYPE text;

ALTER TABLE accounts ALTER COLUMN email TYPE varchar(255);

ALTER TABLE accounts ALTER COLUMN email TYPE varchar(50);

ALTER TABLE accounts ALTER COLUMN legacy_code TYPE varchar;

ALTER TABLE invoices ALTER COLUMN amount TYPE numeric(12, 2);

ALTER TABLE invoices ALTER COLUMN amount TYPE numeric(12, 4);

ALTER TABLE invoices ALTER COLUMN amount TYPE numeric;

ALTER TABLE invoices ALTER COLUMN id TYPE bigint;

ALTER TABLE accounts ALTER COLUMN balance_cents TYPE bigint;

ALTER TABLE invoices ALTER COLUMN currency TYPE varchar(3);

ALTER TABLE invoices ALTER COLUMN number TYPE text USING number::text;

-- timestamptz -> timestamp: no rewrite when the session's TimeZone is UTC (PostgreSQL 12+), a rewrite otherwise
ALTER TABLE events ALTER COLUMN created_at TYPE timestamp;

ALTER TABLE events ALTER COLUMN payload TYPE json;

ALTER TABLE "Post" ALTER COLUMN "title" TYPE VARCHAR(300);

ALTER TABLE accounts ADD CONSTRAINT accounts_balance_nonnegative CHECK (balance_cents >= 0);

ALTER TABLE accounts ADD CONSTRAINT accounts_balance_nonnegative CHECK (balance_cents >= 0) NOT VALID;

-- truth: after previous
ALTER TABLE accounts VALIDATE CONSTRAINT accounts_balance_nonnegative;

ALTER TABLE invoices ADD CONSTRAINT invoices_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);

ALTER TABLE invoices ADD CONSTRAINT invoices_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;

-- truth: after previous
ALTER TABLE invoices VALIDATE CONSTRAINT invoices_account_id_fkey;

ALTER TABLE invoices ADD CONSTRAINT invoices_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE NOT VALID;

ALTER TABLE events DROP CONSTRAINT events_account_id_fkey;

ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);

CREATE UNIQUE INDEX CONCURRENTLY accounts_name_key_idx ON accounts (name);

CREATE UNIQUE INDEX accounts_name_key ON accounts (name);

-- truth: after previous
ALTER TABLE accounts ADD CONSTRAINT accounts_name_key UNIQUE USING INDEX accounts_name_key;

ALTER TABLE invoices ADD CONSTRAINT invoices_number_key UNIQUE (number) DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE plans ADD CONSTRAINT plans_price_positive CHECK (price_cents >= 0);

ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;

ALTER TABLE accounts ADD CONSTRAINT accounts_email_not_null CHECK (email IS NOT NULL) NOT VALID;

-- truth: after previous
ALTER TABLE accounts VALIDATE CONSTRAINT accounts_email_not_null;

-- truth: after previous
ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;

-- truth: after previous
ALTER TABLE accounts DROP CONSTRAINT accounts_email_not_null;

ALTER TABLE accounts ALTER COLUMN plan SET DEFAULT 'free';

ALTER TABLE accounts ALTER COLUMN status DROP DEFAULT;

ALTER TABLE accounts ALTER COLUMN status DROP NOT NULL;

ALTER TABLE accounts ADD COLUMN score integer NOT NULL DEFAULT 0;

ALTER TABLE accounts ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();

ALTER TABLE accounts ADD COLUMN created_day date DEFAULT now();

ALTER TABLE accounts ADD COLUMN serial_no serial;

ALTER TABLE accounts ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', name)) STORED;

ALTER TABLE invoices ADD COLUMN external_id bigint NOT NULL DEFAULT 0;

ALTER TABLE "_PostToTag" ADD CONSTRAINT "_PostToTag_AB_pkey" PRIMARY KEY ("A", "B");

ALTER TABLE audit_log SET UNLOGGED;

ALTER TABLE events SET (fillfactor = 80);

ALTER TABLE events ALTER COLUMN kind SET STATISTICS 500;

ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL;
