from django.db import migrations

# The guard must lock the parent whatever it shows now: a parent being committed still shows is_committed = false
# to others, and a FOR SHARE filtered on is_committed (as 0002 wrote it) skips it instead of waiting. Locking every parent row
# waits for the committing transaction, after which PostgreSQL reads the row again and sees it committed.
FUNCTION = """
CREATE OR REPLACE FUNCTION shifa_reject_change_under_committed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parents bigint[] := ARRAY[]::bigint[];
    parent record;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        parents := parents || (to_jsonb(OLD) ->> TG_ARGV[1])::bigint;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        parents := parents || (to_jsonb(NEW) ->> TG_ARGV[1])::bigint;
    END IF;
    -- Row by row in PL/pgSQL: a filter on is_committed written into the query would be pushed below the lock.
    FOR parent IN EXECUTE format('SELECT is_committed FROM %I WHERE id = ANY($1) FOR SHARE', TG_ARGV[0])
        USING parents
    LOOP
        IF parent.is_committed THEN
            RAISE EXCEPTION '% belongs to a committed row of % and cannot be changed (%)',
                TG_TABLE_NAME, TG_ARGV[0], TG_OP
                USING ERRCODE = 'SH409', HINT = 'Append an amendment instead.';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0003_sealed_answers")]

    operations = [migrations.RunSQL(FUNCTION, migrations.RunSQL.noop)]
