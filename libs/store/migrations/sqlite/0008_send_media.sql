-- Media sends (issue 11, wave 2): the files a send job carries, as JSON (`JobMedia`);
-- NULL for text. The job's text is then the caption.
ALTER TABLE send_jobs ADD COLUMN media text;
