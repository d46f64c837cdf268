-- Verify tracker:issue_priority on pg

BEGIN;

SELECT priority, estimate, closed_at FROM issues WHERE FALSE;

-- Every closed issue has its closed_at.
SELECT 1 / (NOT EXISTS (SELECT FROM issues WHERE status = 'closed' AND closed_at IS NULL))::int;

ROLLBACK;
