"""Classic Act API v2 parts kept until answered, and the beat entry of the sweep that sends lost ones again."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


SWEEP = ("remote actions: redo lost classic Act parts", "remote_actions.redo_lost_classic_dispatches", 1, "minutes")


def create_sweep(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    name, task, every, period = SWEEP
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": schedule})


def remove_sweep(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('engine', '0004_service_indexes'),
        ('remote_actions', '0002_periodic_tasks'),
    ]

    operations = [
        migrations.CreateModel(
            name='ClassicDispatch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('request_id', models.UUIDField(help_text="The call's request (created by the first Engine to answer).")),
                ('task_kwargs', models.JSONField(help_text="The task's arguments, to send it again.")),
                ('created', models.DateTimeField(default=django.utils.timezone.now)),
                ('sent', models.DateTimeField(default=django.utils.timezone.now, help_text='Last sent.')),
                ('attempts', models.PositiveSmallIntegerField(default=1)),
                ('answered', models.DateTimeField(blank=True, null=True)),
                ('outcome', models.CharField(blank=True, help_text="The Engine's answer code, or abandoned.", max_length=20)),
                ('engine', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='engine.engine')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('answered', None)), fields=['sent'], name='ra_classic_unanswered')],
                'constraints': [models.UniqueConstraint(fields=('request_id', 'engine'), name='ra_classic_dispatch_once')],
            },
        ),
        migrations.RunPython(create_sweep, remove_sweep),
    ]
