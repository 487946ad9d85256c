"""The truth tables: stand-alone trainings of the 81 factorial archs that every route is judged against."""
