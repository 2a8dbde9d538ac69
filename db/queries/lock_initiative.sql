-- Take an initiative's row lock so writers of its report rollups take turns (see db/rollups_repo.py).
SELECT id FROM initiatives WHERE id = $1 FOR NO KEY UPDATE
