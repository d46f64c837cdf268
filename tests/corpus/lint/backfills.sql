-- Hand-written data changes: backfills and purges in the forms people write them.

UPDATE accounts SET plan = 'free';

UPDATE accounts SET plan = 'free' WHERE true;

UPDATE accounts SET status = 'inactive' WHERE id != 1;

UPDATE accounts SET status = 'inactive' WHERE id <> 0;

UPDATE accounts SET balance_cents = 0 WHERE balance_cents IS NOT NULL;

UPDATE accounts SET plan = p.code FROM plans p WHERE accounts.plan = p.name;

UPDATE accounts a SET plan = p.code FROM plans p WHERE a.plan = p.code;

UPDATE invoices i SET note = a.name FROM accounts a WHERE i.account_id = a.id;

UPDATE invoices SET paid = true WHERE issued_on < date '2024-06-01';

UPDATE invoices SET paid = true WHERE id BETWEEN 1 AND 500;

UPDATE invoices SET paid = true WHERE id >= 1 AND id < 1000;

UPDATE invoices SET paid = true WHERE id = 42;

UPDATE invoices SET paid = true WHERE id IN (SELECT id FROM invoices WHERE NOT paid ORDER BY id LIMIT 100);

UPDATE accounts SET email = lower(email) WHERE email IS NOT NULL;

ALTER TABLE accounts ADD COLUMN region text;

-- truth: after previous
UPDATE accounts SET region = 'eu' WHERE region IS NULL;

ALTER TABLE invoices ADD COLUMN total_cents bigint;

-- truth: after previous
UPDATE invoices SET total_cents = (amount * 100)::bigint WHERE total_cents IS NULL;

ALTER TABLE "Post" ADD COLUMN "excerpt" TEXT;

-- truth: after previous
UPDATE "Post" SET "excerpt" = left("content", 80);

UPDATE "Post" SET "viewCount" = "viewCount" + 1 WHERE "published";

UPDATE "User" SET "updatedAt" = now() WHERE "role" = 'ADMIN';

DELETE FROM events;

DELETE FROM events WHERE created_at < now() - interval '90 days';

DELETE FROM events WHERE created_at < now() - interval '395 days';

DELETE FROM events e USING accounts a WHERE e.account_id = a.id AND a.status = 'closed';

DELETE FROM audit_log USING accounts WHERE audit_log.row_id = accounts.id;

DELETE FROM events WHERE id BETWEEN 1 AND 500;

DELETE FROM "Comment" WHERE "authorId" IS NULL;

DELETE FROM invoices WHERE account_id IN (SELECT id FROM accounts WHERE deleted_at IS NOT NULL);

INSERT INTO plans (code, name, price_cents) VALUES ('enterprise', 'Enterprise', 9900);

INSERT INTO audit_log (table_name, row_id) SELECT 'accounts', id FROM accounts;

TRUNCATE audit_log;

-- A batched backfill: one key range per transaction, committed each round
DO $$
DECLARE
    low bigint := 0;
BEGIN
    LOOP
        UPDATE accounts SET plan = 'free' WHERE id > low AND id <= low + 500 AND plan IS DISTINCT FROM 'free';
        low := low + 500;
        EXIT WHEN low > (SELECT max(id) FROM accounts);
        COMMIT;
    END LOOP;
END $$;

-- The same loop without COMMIT: all batches in one transaction
DO $$
DECLARE
    low bigint := 0;
BEGIN
    LOOP
        UPDATE accounts SET plan = 'team' WHERE id > low AND id <= low + 500;
        low := low + 500;
        EXIT WHEN low > (SELECT max(id) FROM accounts);
    END LOOP;
END $$;

-- A DO block doing a one-shot backfill
DO $$
BEGIN
    UPDATE "User" SET "updatedAt" = "createdAt" WHERE "updatedAt" IS NOT NULL;
END $$;

-- A batched purge, committed each round
DO $$
DECLARE
    done integer;
BEGIN
    LOOP
        DELETE FROM events WHERE id IN (SELECT id FROM events WHERE kind = 'login' ORDER BY id LIMIT 400);
        GET DIAGNOSTICS done = ROW_COUNT;
        EXIT WHEN done = 0;
        COMMIT;
    END LOOP;
END $$;

-- a summary recomputed from another table: every plan that has accounts is updated
INSERT INTO plans (code, name, price_cents)
SELECT plan, initcap(plan), count(*)::integer FROM accounts WHERE plan IS NOT NULL GROUP BY plan
ON CONFLICT (code) DO UPDATE SET price_cents = EXCLUDED.price_cents;

INSERT INTO plans (code, name, price_cents) VALUES ('pro', 'Pro', 2900)
ON CONFLICT (code) DO UPDATE SET price_cents = EXCLUDED.price_cents;
