DROP TABLE notice_acceptances;
DROP TABLE checkup_results;
DROP TABLE login_attempts;
DROP TABLE portal_sessions;
