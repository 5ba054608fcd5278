-- Membership levels: the level of a points balance and the admin's replacement of the level table.

-- The level a point total maps to: the highest active level whose range contains it.
-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION level_for_points(p_points bigint, OUT level int, OUT discount numeric)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    SELECT coalesce(max(l.level), 0), coalesce((array_agg(l.discount ORDER BY l.level DESC))[1], 1.000)
    INTO level, discount
    FROM membership_levels l
    WHERE l.active AND l.min_points <= p_points AND (l.max_points IS NULL OR l.max_points >= p_points);
END $$;

-- The active levels, lowest range first, discounts as decimal strings.
CREATE OR REPLACE FUNCTION level_table_json() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('level', l.level, 'name', l.name, 'min_points', l.min_points,
                                                     'max_points', l.max_points, 'discount', l.discount::text)
                                  ORDER BY l.min_points), '[]')
        FROM membership_levels l WHERE l.active);

-- What is wrong with a proposed level table, or NULL: ranges start at 0 and follow each other
-- without gaps or overlaps, the last (and only the last) is open-ended, level numbers are unique
-- and rise with the ranges, names are 1–50 characters, discounts lie in (0, 1] with at most 3
-- decimals. A capped top level would leave every card above it at level 0, without its discount.
CREATE OR REPLACE FUNCTION level_table_problem(p_levels jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_row record;
    v_first boolean := true;
    v_prev_level int;
    v_prev_max bigint;
BEGIN
    IF jsonb_typeof(p_levels) <> 'array' OR jsonb_array_length(p_levels) = 0 THEN
        RETURN 'the table needs at least one level';
    END IF;
    IF jsonb_array_length(p_levels) > 100 THEN
        RETURN 'the table has at most 100 levels';
    END IF;
    FOR v_row IN
        SELECT (e ->> 'level')::int AS level, btrim(e ->> 'name') AS name, (e ->> 'min_points')::bigint AS min_points,
               (e ->> 'max_points')::bigint AS max_points, (e ->> 'discount')::numeric AS discount
        FROM jsonb_array_elements(p_levels) e
        ORDER BY (e ->> 'min_points')::bigint, (e ->> 'level')::int
    LOOP
        IF v_row.level IS NULL OR v_row.level < 0 THEN
            RETURN 'level numbers are integers from 0';
        ELSIF v_row.name IS NULL OR length(v_row.name) NOT BETWEEN 1 AND 50 THEN
            RETURN 'level ' || v_row.level || ': the name must be 1 to 50 characters';
        ELSIF v_row.discount IS NULL OR v_row.discount <= 0 OR v_row.discount > 1
              OR v_row.discount <> round(v_row.discount, 3) THEN
            RETURN 'level ' || v_row.level || ': the discount must lie in (0, 1] with at most 3 decimals';
        ELSIF v_row.min_points IS NULL OR (v_row.max_points IS NOT NULL AND v_row.max_points < v_row.min_points) THEN
            RETURN 'level ' || v_row.level || ': max_points must not be below min_points';
        ELSIF v_first THEN
            IF v_row.min_points <> 0 THEN
                RETURN 'the lowest range must start at 0 points';
            END IF;
        ELSIF v_prev_max IS NULL THEN
            RETURN 'only the last level may be open-ended (level ' || v_prev_level || ' is not last)';
        ELSIF v_row.min_points <= v_prev_max THEN
            RETURN 'levels ' || v_prev_level || ' and ' || v_row.level || ' overlap';
        ELSIF v_row.min_points > v_prev_max + 1 THEN
            RETURN 'there is a gap between levels ' || v_prev_level || ' and ' || v_row.level;
        ELSIF v_row.level <= v_prev_level THEN
            RETURN 'level numbers must be unique and rise with the point ranges';
        END IF;
        v_first := false;
        v_prev_level := v_row.level;
        v_prev_max := v_row.max_points;
    END LOOP;
    IF v_prev_max IS NOT NULL THEN
        RETURN 'the last level must be open-ended (level ' || v_prev_level || ' ends at ' || v_prev_max
               || ' points; leave out its max_points)';
    END IF;
    RETURN NULL;
END $$;

-- Replaces the level table. Cards keep their level until their points next change
-- (`set_card_points` then maps them under the new table).
CREATE OR REPLACE FUNCTION replace_levels(p_admin_id uuid, p_levels jsonb, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_problem text := level_table_problem(p_levels);
    v_before jsonb;
BEGIN
    IF v_problem IS NOT NULL THEN
        PERFORM raise_business_error('INVALID_LEVEL_TABLE', 'The level table is invalid: ' || v_problem || '.',
                                     jsonb_build_object('problem', v_problem));
    END IF;
    -- Concurrent replacements queue here (readers are not blocked: they see the old table or the new).
    LOCK TABLE membership_levels IN EXCLUSIVE MODE;
    v_before := level_table_json();
    DELETE FROM membership_levels;
    INSERT INTO membership_levels (level, name, min_points, max_points, discount)
    SELECT (e ->> 'level')::int, btrim(e ->> 'name'), (e ->> 'min_points')::bigint, (e ->> 'max_points')::bigint,
           (e ->> 'discount')::numeric
    FROM jsonb_array_elements(p_levels) e;
    PERFORM audit(p_admin_id, 'admin', 'LEVELS_UPDATE', 'levels', NULL,
                  jsonb_build_object('before', v_before, 'after', level_table_json()), p_request_id);
    RETURN level_table_json();
END $$;
