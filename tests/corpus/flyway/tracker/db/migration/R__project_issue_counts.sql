CREATE OR REPLACE VIEW project_issue_counts AS
SELECT project_id, status, COUNT(*) AS issues
  FROM issues
 GROUP BY project_id, status;
