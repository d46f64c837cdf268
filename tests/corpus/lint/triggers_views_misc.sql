-- Hand-written triggers, views, enums, sequences, comments and grants.

CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."updatedAt" := now();
    RETURN NEW;
END $$;

CREATE TRIGGER user_touch BEFORE UPDATE ON "User" FOR EACH ROW EXECUTE FUNCTION audit_row();

CREATE OR REPLACE TRIGGER accounts_audit AFTER UPDATE OR DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_row();

DROP TRIGGER accounts_audit ON accounts;

DROP TRIGGER IF EXISTS accounts_audit ON accounts;

ALTER TABLE accounts DISABLE TRIGGER accounts_audit;

ALTER TABLE accounts ENABLE TRIGGER accounts_audit;

CREATE VIEW paid_invoices AS SELECT id, account_id, amount FROM invoices WHERE paid;

CREATE OR REPLACE VIEW active_accounts AS SELECT id, name, plan, status FROM accounts WHERE deleted_at IS NULL;

-- truth: breaks-app
DROP VIEW active_accounts;

CREATE MATERIALIZED VIEW account_totals AS SELECT account_id, sum(amount) AS total FROM invoices GROUP BY account_id;

-- truth: after previous
REFRESH MATERIALIZED VIEW account_totals;

CREATE TYPE invoice_state AS ENUM ('draft', 'open', 'paid', 'void');

ALTER TYPE "Role" ADD VALUE IF NOT EXISTS 'GUEST';

ALTER TYPE "PostStatus" RENAME VALUE 'DRAFT' TO 'PENDING';

ALTER TABLE "Post" ALTER COLUMN "status" TYPE text;

CREATE SEQUENCE order_number_seq START 5000;

ALTER SEQUENCE invoice_number_seq RESTART WITH 20000;

ALTER SEQUENCE invoice_number_seq OWNED BY invoices.id;

SELECT setval('invoice_number_seq', (SELECT max(id) FROM invoices));

ALTER TABLE invoices ALTER COLUMN id SET DEFAULT nextval('invoice_number_seq');

DROP SEQUENCE invoice_number_seq;

COMMENT ON TABLE accounts IS 'customer accounts';

COMMENT ON COLUMN accounts.plan IS 'plan code, see plans.code';

COMMENT ON INDEX accounts_email_idx IS 'login lookup';

GRANT SELECT ON accounts TO gonogo_lint_readonly;

GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO gonogo_lint_readonly;

REVOKE UPDATE ON invoices FROM gonogo_lint_readonly;

ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO gonogo_lint_readonly;

ALTER TABLE accounts OWNER TO CURRENT_USER;

ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;

CREATE POLICY accounts_own ON accounts USING (id = 1);

CREATE SCHEMA IF NOT EXISTS archive;

-- truth: after previous
ALTER TABLE audit_log SET SCHEMA archive;

LOCK TABLE accounts IN SHARE MODE;

SELECT id FROM accounts WHERE id = 1 FOR UPDATE;
