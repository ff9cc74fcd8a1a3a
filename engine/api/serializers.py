from rest_framework import serializers

from engine.models import Engine


class EngineSerializer(serializers.ModelSerializer):
    """An Engine as the List Engines API answers it (``nxql.md``)."""

    databaseUID = serializers.CharField(source="database_uid")  # noqa: N815 - documented name
    machineID = serializers.CharField(source="machine_id")  # noqa: N815 - documented name

    class Meta:
        model = Engine
        fields = ["name", "description", "version", "timezone", "databaseUID", "machineID", "status", "address",
                  "port"]
